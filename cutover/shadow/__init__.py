"""Shadow traffic: mirrored copies of live safe requests replayed against both apps, compared, and counted.

The comparator (``cutover shadow serve``) writes to :mod:`.store`; ``cutover shadow report`` reads it
through :mod:`.report`.
"""
