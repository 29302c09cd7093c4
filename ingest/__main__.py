from ingest.entry import main

main()
