"""The ``imipd`` and ``imip`` commands: thin shells over the layers below."""
