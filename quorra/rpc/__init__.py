"""Worker protocol (gRPC ``quorra.WorkerService``): the server (``server.py``), the servicer's
unary calls (``servicer.py``), the streaming session with credit and pipelined settlements
(``session.py``, ``feed.py``, ``settle.py``) and byte-bounded batching (``batches.py``). It
calls ``quorra.service.JobService`` only, like the REST API.
"""
