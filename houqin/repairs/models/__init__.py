"""Models of the repairs app, one module per part:

* ``workorders`` — repair categories, SLA rules, work orders and their transitions, materials, ratings;
* ``inspections`` — preventive inspection plans, their checklists and runs.
"""

from houqin.repairs.models.inspections import *  # noqa: F401,F403
from houqin.repairs.models.summary import *  # noqa: F401,F403
from houqin.repairs.models.workorders import *  # noqa: F401,F403
