"""``python -m seq2exp_cli``: the same entry point as the ``seq2exp`` console script."""

from seq2exp_cli.cli import main

if __name__ == "__main__":
    main()
