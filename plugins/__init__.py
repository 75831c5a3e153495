"""The built-in components: the first plugin, registered through the `pipeline.plugins` entry point.

Importing a module registers its components. These modules import no framework at import time
(each factory imports Keras when called), so validating a recipe stays fast.
"""

from plugins import (activations, callbacks, initializers, losses, metrics, optimizers,  # noqa: F401
                     preprocessors, regularizers, schedules)
from plugins.datasets import arrays, digits, mnist1d  # noqa: F401
from plugins.layers import convolution, core, merge, normalization, pooling  # noqa: F401
