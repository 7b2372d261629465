"""The training task: data loading, model, training loop, evaluation, artifacts, publishing.

``python -m pipeline`` is the ECS Fargate entrypoint; ``facemood train`` runs the same code.
torch is imported only inside this package.
"""
