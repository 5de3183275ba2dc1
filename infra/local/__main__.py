"""``python -m infra.local``: the embedded stack (``make up``); see :mod:`infra.local.stack`."""

from infra.local.stack import main

raise SystemExit(main())
