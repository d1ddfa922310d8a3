"""Run the coder-assist command line from a checkout: ``python cli.py --help``."""

from coder_assist.cli.app import main

if __name__ == "__main__":
    main()
