"""The model zoo: every architecture the course builds, written as a block class plus a builder."""

from .alexnet import AlexNet, AlexNetConfig, alexnet
from .convnext import (ConvNeXt, ConvNeXtBlock, ConvNeXtConfig, DropPath, LayerNorm2d, convnext,
                       load_torchvision_convnext)
from .densenet import DenseBlock, DenseLayer, DenseNet, DenseNetConfig, Transition, densenet, densenet121
from .efficientnet import EfficientNetLite, MBConv, StageConfig, efficientnet_lite0, efficientnet_lite0_transform
from .googlenet import GoogLeNet, Inception, InceptionAux, googlenet
from .lenet import lenet
from .ladder import LADDER, LadderBlock, LadderConfig, LadderNet, ladder_configs, ladder_net
from .mobilenet import InvertedResidual, MobileNetV2, SqueezeExcitation, mobilenet_v2
from .nin import NiN, NiNBlock, nin
from .resnet import (BasicBlock, Bottleneck, ResNet, ResNetConfig, load_torchvision_resnet, resnet, resnet18,
                     resnet34, resnet50)
from .segmentation import FCN, DoubleConv, UNet, bilinear_kernel, fcn, unet
from .vgg import VGG, VGGBlock, vgg, vgg11, vgg16
