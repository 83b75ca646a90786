/// The tests' model server is the product's loopback one: importing the support module brings it.
@_exported import LoopbackModel
