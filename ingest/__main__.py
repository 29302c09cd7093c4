from ingest.console.cli import main

main()
