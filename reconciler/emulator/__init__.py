"""The embedded ECS emulator (the ``embedded`` extra): moto plus a real ECS model.

See ``app.Emulator`` for starting one in-process, ``control`` for the endpoints
that steer it, and the README's "The emulator" section for what it models.
"""
