"""The faces: what each kind of user works with, over the one layer of operations.

``faces.cli`` is the ``takedown`` command (split by command group); ``faces.demo`` the walkthrough
it runs. The web console, the reporting portal and the provider page will sit beside them.
"""
