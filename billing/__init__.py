"""ent-bill: the annual ENT contributions of the member communes, exact to the cent."""

__version__ = "0.1.0"
