from hg_index.cli import main

raise SystemExit(main())
