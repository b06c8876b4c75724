"""Float models: the named zoo, parametric specs sized by the data (mlp:, cnn1d:, cnn2d:), user builders, and the
traced architecture a run directory carries.
"""
