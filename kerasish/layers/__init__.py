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
from kerasish.layers.wrappers import Bidirectional
from kerasish.utils.object_registration import register_builtin as _register_builtin

# Keras's aliases.
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
Convolution1D, Convolution2D = Conv1D, Conv2D

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
]

# Saved configs name layers by class; load_model finds kerasish's own in this table
# (kerasish.saving never imports the layer modules itself).
_register_builtin(*[obj for name, obj in list(globals().items()) if name in __all__ and isinstance(obj, type)])
