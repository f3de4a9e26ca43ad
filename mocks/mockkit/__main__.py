from mockkit.cli import main

raise SystemExit(main())
