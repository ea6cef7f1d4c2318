"""The package version and the stream-layout version (docs/streams.md), one home each.

The lowest module of the package: everything may import it, it imports nothing.
"""

__version__ = "0.1.0"

# Bumped by any change of a bit fastinit writes for given (seed, stream, index, parameters,
# dtype); the golden tests pin the values of the current layout.
STREAM_LAYOUT_VERSION = 2
