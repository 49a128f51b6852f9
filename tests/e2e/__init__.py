"""The whole product: the pipeline over real backends, crashes, the service, the wheel, deploy."""
