from conformance.bench.main import main

raise SystemExit(main())
