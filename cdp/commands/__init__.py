"""One module per `cdp` subcommand; each parses arguments and calls into the packages."""
