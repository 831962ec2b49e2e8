"""The operation table: one row per public operation and the call wrappers every face uses
(``face.py``), who is calling (``roles.py``) and what each call cost (``metrics.py``).

A new operation gets a row here (its logic lives in ``roleredis.core``). May import core,
runtime, transport and foundation; never a face.
"""
