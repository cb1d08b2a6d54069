"""``python -m tradewind`` runs the CLI."""

from tradewind.cli.app import main

if __name__ == "__main__":
    main()
