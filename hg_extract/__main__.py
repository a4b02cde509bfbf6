from hg_extract.cli import main

raise SystemExit(main())
