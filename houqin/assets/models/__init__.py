"""Models of the assets app, one module per part of the register:

* ``cards`` — categories, asset cards and their append-only history (``AssetCategory``, ``Asset``, ``AssetEvent``);
* ``custody`` — assignments, transfers and loans (who holds a card, where it is, when it comes back);
* ``disposal`` — damage with compensation, and disposal requests with their records;
* ``stocktake`` — stocktaking plans, their frozen expected lists, counts and adjustments.
"""

from houqin.assets.models.analytics import *  # noqa: F401,F403
from houqin.assets.models.cards import *  # noqa: F401,F403
from houqin.assets.models.custody import *  # noqa: F401,F403
from houqin.assets.models.disposal import *  # noqa: F401,F403
from houqin.assets.models.stocktake import *  # noqa: F401,F403
