"""The network side of corenn: the kernel protocol that lets a component be written once."""
