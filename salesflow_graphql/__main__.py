from .cli import main

# Guarded: forecast training pools spawn processes that import the main module.
if __name__ == "__main__":
    raise SystemExit(main())
