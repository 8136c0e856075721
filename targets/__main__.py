"""``python -m targets``: the ``targets`` command (see `targets.cli`)."""

from targets.cli import main

if __name__ == "__main__":
    main()
