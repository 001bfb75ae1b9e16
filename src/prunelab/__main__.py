from prunelab.cli.main import main

raise SystemExit(main())
