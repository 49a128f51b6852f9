"""`python -m mailbot` is the `mailbot` command."""

if __name__ == "__main__":
    # Guarded, and imported only here: the fetch process of a long pass (spawned) imports this
    # module as its parent's main module, and must neither run the command nor load it.
    from mailbot.cli import main

    main()
