"""Keras layers as torch nn.Modules: `from kerasish.layers import Dense, Dropout`."""

from kerasish.layers.activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from kerasish.layers.attention import (
    AdditiveAttention, Attention, EinsumDense, GroupedQueryAttention, GroupQueryAttention, MultiHeadAttention,
)
from kerasish.layers.convolutional import Conv1D, Conv2D, Conv2DTranspose, SeparableConv2D
from kerasish.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from kerasish.layers.embedding import Embedding, Masking, ReversibleEmbedding
from kerasish.layers.lambda_layer import Lambda
from kerasish.layers.layer import Layer
from kerasish.layers.merging import (
    Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average, concatenate, multiply,
    subtract,
)
from kerasish.layers.op_layer import OpLayer
from kerasish.layers.normalization import BatchNormalization, LayerNormalization
from kerasish.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from kerasish.layers.recurrent import GRU, LSTM, SimpleRNN
from kerasish.layers.reshaping import SpatialDropout1D, SpatialDropout2D, UpSampling2D, ZeroPadding2D
from kerasish.layers.text_vectorization import TextVectorization
from kerasish.layers.normalization_more import (
    GroupNormalization, RMSNormalization, SpectralNormalization, UnitNormalization,
)
from kerasish.layers.regularization import (
    ActivityRegularization, AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout3D,
)
from kerasish.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from kerasish.layers.rnn_generic import RNN
from kerasish.layers.reshaping_more import (
    Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D, UpSampling3D, ZeroPadding1D, ZeroPadding3D,
)
from kerasish.layers.structure import Identity, TimeDistributed, TorchModuleWrapper
from kerasish.layers.convolutional_more import Conv1DTranspose, Conv3D, Conv3DTranspose
from kerasish.layers.convolutional_depthwise import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D
from kerasish.layers.pooling_more import (
    AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D, AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D, AdaptiveMaxPooling3D, AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D,
    MaxPooling3D,
)
from kerasish.layers.wrappers import Bidirectional
from kerasish.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from kerasish.layers.preprocessing.image_preprocessing import AutoContrast, CenterCrop, Rescaling, Resizing
from kerasish.layers.preprocessing.image_augmentation import (
    RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
)
from kerasish.layers.preprocessing.image_color import (
    RandomBrightness, RandomContrast, RandomGrayscale, RandomHue, RandomSaturation,
)
from kerasish.layers.preprocessing.normalization import Normalization
from kerasish.layers.preprocessing.discretization import Discretization
from kerasish.layers.preprocessing.category_encoding import CategoryEncoding
from kerasish.layers.preprocessing.hashing import Hashing
from kerasish.layers.preprocessing.string_lookup import StringLookup
from kerasish.layers.preprocessing.integer_lookup import IntegerLookup
from kerasish.utils.object_registration import register_builtin as _register_builtin
from kerasish.utils.object_registration import register_builtin_alias as _register_builtin_alias

# Keras's aliases.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D

__all__ = [
    "Layer", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
    "Conv1D", "Conv2D", "Conv2DTranspose", "SeparableConv2D", "Convolution1D", "Convolution2D",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "BatchNormalization", "LayerNormalization",
    "ZeroPadding2D", "UpSampling2D", "SpatialDropout1D", "SpatialDropout2D",
    "Embedding", "Masking",
    "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TextVectorization",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "concatenate", "OpLayer",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Lambda",
    "GroupNormalization", "UnitNormalization", "RMSNormalization", "SpectralNormalization",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "SpatialDropout3D",
    "ReversibleEmbedding", "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
    "EinsumDense", "MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention",
    "AdditiveAttention",
    "Cropping1D", "Cropping2D", "Cropping3D", "Permute", "RepeatVector", "UpSampling1D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding3D", "Identity", "TimeDistributed", "TorchModuleWrapper",
    "Conv1DTranspose", "Conv3D", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
    "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
    "MaxPool3D", "AvgPool3D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose",
    "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "Rescaling", "Resizing", "CenterCrop", "AutoContrast", "RandomFlip", "RandomRotation", "RandomZoom",
    "RandomTranslation", "RandomCrop", "RandomContrast", "RandomBrightness", "RandomGrayscale", "RandomHue",
    "RandomSaturation",
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
]

__all__ += ["Normalization", "Discretization", "CategoryEncoding", "Hashing", "StringLookup", "IntegerLookup"]

# Saved configs name layers by class; load_model finds kerasish's own in this table
# (kerasish.saving never imports the layer modules itself).
_register_builtin(*[obj for name, obj in list(globals().items()) if name in __all__ and isinstance(obj, type)])
# Keras 3 calls GroupedQueryAttention `GroupQueryAttention`: configs written by Keras name it so.
_register_builtin_alias("GroupQueryAttention", GroupedQueryAttention)
