from smallcnn.cli import main

raise SystemExit(main())
