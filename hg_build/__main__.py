from hg_build.cli import main

raise SystemExit(main())
