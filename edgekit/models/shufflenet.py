"""(architectures land with the model-zoo work)"""
