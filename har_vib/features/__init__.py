"""Frame encoders (timm backbones) and the on-disk feature store; knows nothing of the sequence models."""
