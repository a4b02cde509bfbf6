from hg_serve.cli import main

raise SystemExit(main())
