from ._cli.main import main

# Guarded: worker processes are spawned, and a spawned child imports the parent's __main__.
if __name__ == "__main__":
    raise SystemExit(main())
