"""One thin module per subcommand: parse arguments, call one library function, report."""
