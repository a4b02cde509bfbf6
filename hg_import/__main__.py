from hg_import.cli import main

raise SystemExit(main())
