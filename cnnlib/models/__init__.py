"""The model zoo: every architecture the course builds, written as a block class plus a builder."""

from .alexnet import AlexNet, AlexNetConfig, alexnet
from .densenet import DenseBlock, DenseLayer, DenseNet, DenseNetConfig, Transition, densenet, densenet121
from .efficientnet import EfficientNetLite, MBConv, StageConfig, efficientnet_lite0, efficientnet_lite0_transform
from .googlenet import GoogLeNet, Inception, InceptionAux, googlenet
from .nin import NiN, NiNBlock, nin
from .resnet import BasicBlock, Bottleneck, ResNet, ResNetConfig, resnet, resnet18, resnet34, resnet50
from .vgg import VGG, VGGBlock, vgg, vgg11, vgg16
