from memoturn.bench import main

raise SystemExit(main())
