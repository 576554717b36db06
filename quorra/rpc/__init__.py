"""Worker protocol (gRPC ``quorra.WorkerService``): not built yet.

It will call ``quorra.service.JobService`` only, like the REST API.
"""
