"""FeatureSpace: Keras's one-stop preprocessing of structured data, on kerasish's preprocessing layers.

A FeatureSpace maps a dict of raw columns (floats, integers, strings) to one float vector per
row (or a dict of encoded features), each column through its own preprocessing layer:
Normalization, Rescaling, Discretization, IntegerLookup, StringLookup or Hashing, then
one-hot (multi-hot) encoding, with optional hashed feature crosses. Keras adapts it on a
`tf.data.Dataset`; kerasish adapts it on what a torch user has (see `FeatureSpace.adapt`).
"""

from __future__ import annotations

import builtins
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch

from kerasish.layers.layer import Layer, unique_name
from kerasish.layers.preprocessing.base import PreprocessingLayer
from kerasish.layers.preprocessing.feature_cross import HashedCross
from kerasish.layers.preprocessing.feature_specs import Cross, Feature, deserialize_spec, spec_envelope

_FEATURE_TYPES = ("float", "float_normalized", "float_rescaled", "float_discretized", "integer_categorical",
                  "string_categorical", "integer_hashed", "string_hashed")
_ADAPT_BATCH = 32  # Keras batches an unbatched tf.data set by 32 before adapting each layer
def _column(value: Any, name: str) -> Any:
    """A column as a tensor (numbers) or an object array (strings), of rank >= 1."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (str, bytes)):
        return np.asarray([value], dtype=object).reshape(())
    arr = np.asarray(value)
    if arr.dtype.kind in "USO":
        return arr.astype(object)
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"FeatureSpace: feature {name!r} holds values of dtype {arr.dtype}, which kerasish cannot encode. "
            "Pass numbers or strings (a list, a NumPy array or a tensor)."
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def _rank(x: Any) -> int:
    return x.dim() if isinstance(x, torch.Tensor) else x.ndim


def _as_rows(x: Any) -> Any:
    """Rank 0 and 1 columns as (batch, 1), as Keras expands them."""
    return x.reshape(-1, 1) if _rank(x) <= 1 else x


def _x_of(batch: Any) -> Any:
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], dict):
        return batch[0]
    return batch


class FeatureSpace(Layer):
    """Preprocesses and encodes a dict of structured features, as Keras's `keras.utils.FeatureSpace`.

    Each feature is named with its type, either as a string (default arguments) or as one of
    the constructors below, which say how it is preprocessed:

    - `FeatureSpace.float()`: the value as is;
    - `FeatureSpace.float_rescaled(scale=1.0, offset=0.0)`: a `Rescaling` layer;
    - `FeatureSpace.float_normalized()`: a `Normalization` layer (mean and variance from `adapt`);
    - `FeatureSpace.float_discretized(num_bins, bin_boundaries=None, output_mode="one_hot")`:
      a `Discretization` layer;
    - `FeatureSpace.integer_categorical(max_tokens=None, num_oov_indices=1, output_mode="one_hot")`:
      an `IntegerLookup` layer;
    - `FeatureSpace.string_categorical(...)`: the same with a `StringLookup` layer;
    - `FeatureSpace.integer_hashed(num_bins, output_mode="one_hot")` and
      `FeatureSpace.string_hashed(num_bins, ...)`: a `Hashing` layer;
    - `FeatureSpace.feature(dtype, preprocessor, output_mode)`: any layer of yours.

    Features in `'one_hot'` mode are multi-hot encoded (`CategoryEncoding`). In `'concat'`
    mode the encoded features are concatenated in the sorted order of their names, followed by
    the crosses in the sorted order of theirs. Crosses hash the preprocessed (integer) values
    of their features with the same hash as Keras's `HashedCrossing` (TensorFlow's
    `sparse.cross_hashed`), so a crossed feature lands in the same bin as in Keras.

    Differences from Keras: `adapt` takes a dict of arrays or lists, a torch `DataLoader`,
    `Dataset`, `PyDataset`, or any iterable of batches (dicts, or `(dict, y)` tuples), instead
    of a `tf.data.Dataset`; a dict is adapted in batches of 32 rows, as Keras batches it. The
    outputs are torch tensors (on the CPU). kerasish has no string tensors, so `get_inputs()`
    and `get_encoded_features()` (symbolic inputs for a functional model) refuse a feature
    space that has string features: call the feature space on the data and build the model on
    `kerasish.Input(shape=(feature_space.output_dim,))` instead (`output_dim` is kerasish's).
    `save()` writes the config and the adapted state as JSON (`.json`), read back by
    `FeatureSpace.load()`; Keras writes a `.keras` file for `keras.models.load_model`. The
    `'float'` feature's preprocessor is a `kerasish.layers.Identity` (Keras uses a private
    `TFDIdentity`), so a Keras config with a `'float'` feature does not load here.

    Args:
        features: a dict mapping each feature's name to its type: a string such as
            `"integer_categorical"` or a `Feature` from the constructors above. No default.
        output_mode: `"concat"` (one float vector per row) or `"dict"` (a dict of encoded
            features, crosses included). Defaults to `"concat"`.
        crosses: a list of feature-name tuples, or of `FeatureSpace.cross(...)`, to cross by
            hashing. Defaults to `None`.
        crossing_dim: the number of hash bins of crosses given as tuples. Defaults to `32`.
        hashing_dim: the number of bins of `"integer_hashed"`/`"string_hashed"` given by
            name. Defaults to `32`.
        num_discretization_bins: the number of bins of `"float_discretized"` given by name.
            Defaults to `32`.
        name: the layer's name. Defaults to `None`.

    Example:
        >>> data = {"x": [0.0, 1.0, 2.0, 3.0], "color": ["red", "blue", "red", "red"]}
        >>> fs = FeatureSpace({"x": "float_normalized", "color": "string_categorical"})
        >>> fs.adapt(data)
        >>> tuple(fs(data).shape)
        (4, 4)
    """

    # ------------------------------------------------------------------ feature constructors
    @classmethod
    def cross(cls, feature_names: Sequence[str], crossing_dim: int, output_mode: str = "one_hot") -> Cross:
        """A cross of `feature_names` hashed into `crossing_dim` bins."""
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype: str, preprocessor: Any, output_mode: str) -> Feature:
        """A feature preprocessed by a layer of your own."""
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name: Optional[str] = None) -> Feature:
        """A float feature passed through as is."""
        from kerasish.layers.structure import Identity

        name = name or unique_name("float")
        return Feature("float32", Identity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale: builtins.float = 1.0, offset: builtins.float = 0.0,
                       name: Optional[str] = None) -> Feature:
        """A float feature rescaled to `x * scale + offset`."""
        from kerasish.layers.preprocessing.image_preprocessing import Rescaling

        name = name or unique_name("float_rescaled")
        return Feature("float32", Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name: Optional[str] = None) -> Feature:
        """A float feature standardized with the mean and variance `adapt` learns."""
        from kerasish.layers.preprocessing.normalization import Normalization

        name = name or unique_name("float_normalized")
        return Feature("float32", Normalization(axis=-1, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_discretized(cls, num_bins: Optional[int], bin_boundaries: Optional[List[builtins.float]] = None,
                          output_mode: str = "one_hot", name: Optional[str] = None) -> Feature:
        """A float feature cut into bins (learned by `adapt` as quantiles, or given)."""
        from kerasish.layers.preprocessing.discretization import Discretization

        name = name or unique_name("float_discretized")
        layer = Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries, name=f"{name}_preprocessor")
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens: Optional[int] = None, num_oov_indices: int = 1,
                            output_mode: str = "one_hot", name: Optional[str] = None) -> Feature:
        """An integer feature indexed by a vocabulary `adapt` learns."""
        from kerasish.layers.preprocessing.integer_lookup import IntegerLookup

        name = name or unique_name("integer_categorical")
        layer = IntegerLookup(name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices)
        return Feature("int32", layer, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens: Optional[int] = None, num_oov_indices: int = 1,
                           output_mode: str = "one_hot", name: Optional[str] = None) -> Feature:
        """A string feature indexed by a vocabulary `adapt` learns."""
        from kerasish.layers.preprocessing.string_lookup import StringLookup

        name = name or unique_name("string_categorical")
        layer = StringLookup(name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices)
        return Feature("string", layer, output_mode)

    @classmethod
    def string_hashed(cls, num_bins: int, output_mode: str = "one_hot", name: Optional[str] = None) -> Feature:
        """A string feature hashed into `num_bins` bins."""
        from kerasish.layers.preprocessing.hashing import Hashing

        name = name or unique_name("string_hashed")
        return Feature("string", Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins: int, output_mode: str = "one_hot", name: Optional[str] = None) -> Feature:
        """An integer feature hashed into `num_bins` bins."""
        from kerasish.layers.preprocessing.hashing import Hashing

        name = name or unique_name("integer_hashed")
        return Feature("int32", Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    # ------------------------------------------------------------------ construction
    def __init__(self, features: Dict[str, Any], output_mode: str = "concat", crosses: Optional[list] = None,
                 crossing_dim: int = 32, hashing_dim: int = 32, num_discretization_bins: int = 32,
                 name: Optional[str] = None) -> None:
        super().__init__(name=name)
        if not features:
            raise ValueError(
                f"The `features` argument cannot be None or empty; received features={features!r}. Pass a dict "
                "such as {'age': 'float_normalized', 'city': 'string_categorical'}."
            )
        if not isinstance(features, dict):
            raise TypeError(
                f"The `features` argument must be a dict of feature name -> type; received {type(features).__name__}."
                " Pass e.g. {'age': 'float_normalized'}."
            )
        if output_mode not in ("dict", "concat"):
            raise ValueError(
                "Invalid value for argument `output_mode`. Expected one of {'dict', 'concat'}. "
                f"Received: output_mode={output_mode!r}"
            )
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.output_mode = output_mode
        self.features = {key: self._standardize_feature(key, value) for key, value in features.items()}
        self.crosses: List[Cross] = []
        for cross in crosses or []:
            if isinstance(cross, dict):
                cross = deserialize_spec(cross, Cross)
            if not isinstance(cross, Cross):
                if not crossing_dim:
                    raise ValueError(
                        "When specifying `crosses`, the argument `crossing_dim` (the dimensionality of the crossing "
                        f"space) should be specified as well; received crossing_dim={crossing_dim!r}. Pass e.g. "
                        "crossing_dim=32."
                    )
                cross = Cross(cross, crossing_dim=crossing_dim)
            unknown = [key for key in cross.feature_names if key not in self.features]
            if unknown:
                raise ValueError(
                    "All features referenced in the `crosses` argument should be present in the `features` dict. "
                    f"Received unknown features {unknown} in the cross {cross.feature_names}; the features are "
                    f"{sorted(self.features)}."
                )
            self.crosses.append(cross)
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        self.preprocessors = {key: feature.preprocessor for key, feature in self.features.items()}
        self.crossers = {cross.name: HashedCross(cross.crossing_dim, name=cross.name) for cross in self.crosses}
        self.one_hot_encoders: Dict[str, Any] = {}
        self._is_adapted = False
        self._encoders_made = False
        self._inputs: Optional[Dict[str, Any]] = None
        self.encoded_features: Any = None

    def _standardize_feature(self, name: str, feature: Any) -> Feature:
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return deserialize_spec(feature, Feature)
        if feature == "float_discretized":
            return self.float_discretized(num_bins=self.num_discretization_bins, name=name)
        if feature in ("integer_hashed", "string_hashed"):
            return getattr(self, feature)(self.hashing_dim, name=name)
        if feature in _FEATURE_TYPES:
            return getattr(self, feature)(name=name)
        raise ValueError(
            f"Invalid feature type for feature {name!r}: {feature!r}. Expected one of {list(_FEATURE_TYPES)}, "
            "or a FeatureSpace.feature(...) / FeatureSpace.<type>(...) object."
        )

    # ------------------------------------------------------------------ adapt
    def _adaptable(self) -> List[str]:
        """Features whose layer learns its state from data (given state leaves nothing to learn)."""
        names = []
        for key, layer in self.preprocessors.items():
            if getattr(layer, "input_mean", None) is not None or getattr(layer, "_has_input_vocabulary", False):
                continue
            if getattr(layer, "num_bins", 0) is None:  # Discretization with given bin_boundaries
                continue
            if type(layer).__name__ == "Hashing" or not hasattr(layer, "adapt"):
                continue
            names.append(key)
        return names

    def adapt(self, dataset: Any) -> None:
        """Learns each feature's state (vocabularies, statistics, bins) from `dataset`.

        Args:
            dataset: a dict of arrays or lists (one column per feature, adapted in batches of
                32 rows as Keras does), or an iterable of batches: a torch `DataLoader` or
                `Dataset` of dicts, a `PyDataset`, a generator or a list of dict batches;
                `(x, y)` batches give their `x`. It is read once. No default.

        Features whose layer was given its state (a vocabulary, bin boundaries, a mean and
        variance), including lookups and boundaries restored by `from_config` or `load`,
        keep it; the other features learn theirs, as in Keras.

        Raises:
            TypeError: for data that is neither a dict nor an iterable of dict batches.
            ValueError: when a feature is missing from the data, or the data holds no batch.
        """
        names = self._adaptable()
        self.encoded_features = None  # the symbolic graph of a previous adapt has the old vocabularies
        if isinstance(dataset, dict):
            self._check_keys(dataset, names, "adapt()")
            columns = {key: _as_rows(_column(dataset[key], key)) for key in names}
            lengths = {key: col.shape[0] for key, col in columns.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(
                    f"FeatureSpace.adapt() received columns of different lengths: {lengths}. Pass one value per row "
                    "in every column."
                )
            n = next(iter(lengths.values()), 0)
            batches: Iterable[Any] = ({key: col[i:i + _ADAPT_BATCH] for key, col in columns.items()}
                                      for i in range(0, n, _ADAPT_BATCH))
        elif isinstance(dataset, (str, bytes, np.ndarray, torch.Tensor)) or not hasattr(dataset, "__iter__") and \
                not isinstance(dataset, torch.utils.data.Dataset):
            raise TypeError(
                f"FeatureSpace.adapt() can only be called on a dict of arrays/lists or an iterable of dict batches "
                f"(a DataLoader, a Dataset, a PyDataset, a generator). Received: {type(dataset).__name__}."
            )
        else:
            if isinstance(dataset, torch.utils.data.Dataset) and hasattr(dataset, "__getitem__") and \
                    not isinstance(dataset, torch.utils.data.IterableDataset) and hasattr(dataset, "__len__"):
                dataset = torch.utils.data.DataLoader(dataset, batch_size=_ADAPT_BATCH)
            batches = (_x_of(batch) for batch in dataset)
        if names:  # nothing to learn (given vocabularies, boundaries, statistics): the data is not read
            self._adapt_batches(batches, names)
        self._is_adapted = True
        self._make_encoders()

    def _adapt_batches(self, batches: Iterable[Any], names: List[str]) -> None:
        streamed = [key for key in names if isinstance(self.preprocessors[key], PreprocessingLayer)]
        collected: Dict[str, List[Any]] = {key: [] for key in names if key not in streamed}
        for key in streamed:
            self.preprocessors[key].reset_state()
        seen = False
        for batch in batches:
            if not isinstance(batch, dict):
                raise TypeError(
                    f"FeatureSpace.adapt() expects each batch to be a dict of feature name -> values (or a (dict, y) "
                    f"tuple); received a batch of type {type(batch).__name__}. Yield dicts such as "
                    "{'age': [...], 'city': [...]}."
                )
            self._check_keys(batch, names, "adapt()")
            seen = True
            for key in names:
                column = _as_rows(_column(batch[key], key))
                if key in streamed:
                    self.preprocessors[key].update_state(column)
                else:
                    collected[key].append(column.numpy() if isinstance(column, torch.Tensor) else column)
        if not seen:
            raise ValueError(
                "FeatureSpace.adapt() received data with no batches. Pass a non-empty dict of columns or a non-empty "
                "iterable of dict batches."
            )
        for key in streamed:
            layer = self.preprocessors[key]
            layer.finalize_state()
            layer._is_adapted = True
        for key, parts in collected.items():
            self.preprocessors[key].adapt(np.concatenate(parts))

    def _check_keys(self, data: Dict[str, Any], names: Sequence[str], where: str) -> None:
        missing = [key for key in names if key not in data]
        if missing:
            raise ValueError(
                f"FeatureSpace.{where} received data without the features {missing}; it has {sorted(data)}. "
                "Pass a value for every feature of the FeatureSpace."
            )

    def _check_if_adapted(self) -> None:
        if not self._is_adapted:
            pending = [key for key in self._adaptable() if not getattr(self.preprocessors[key], "is_adapted", False)]
            if pending:
                raise ValueError(
                    "You need to call `.adapt(dataset)` on the FeatureSpace before you can start using it: the "
                    f"features {pending} have not learned their state yet."
                )
            self._is_adapted = True

    # ------------------------------------------------------------------ encoding
    def _cardinality(self, key: str, layer: Any) -> int:
        kind = type(layer).__name__
        if getattr(layer, "output_mode", "int") != "int" or kind in ("Normalization", "Rescaling", "Identity"):
            raise ValueError(
                f"Feature '{key}' has `output_mode='one_hot'`. Thus its preprocessor should return an integer "
                f"dtype. Instead its {kind} returns floats. Pass output_mode='float' for this feature, or a "
                "preprocessor that outputs integer ids."
            )
        if kind in ("IntegerLookup", "StringLookup"):
            return layer.vocabulary_size()
        if kind == "CategoryEncoding":
            return layer.num_tokens
        if kind == "Discretization":
            return layer.num_bins if layer.num_bins is not None else len(layer.bin_boundaries) + 1
        if kind in ("Hashing", "HashedCross"):
            return layer.num_bins
        raise ValueError(
            f"Feature '{key}' has `output_mode='one_hot'`. However it isn't a standard feature and the "
            f"dimensionality of its output space is not known ({kind}), thus it cannot be one-hot encoded. "
            "Try using `output_mode='int'`."
        )

    def _ordered(self) -> List[tuple]:
        """(name, spec, layer) of the features in sorted order, then of the crosses in sorted order."""
        return ([(key, self.features[key], self.preprocessors[key]) for key in sorted(self.features)]
                + [(key, self.crosses_by_name[key], self.crossers[key]) for key in sorted(self.crosses_by_name)])

    def _make_encoders(self) -> None:
        """The multi-hot encoders of 'one_hot' features, once the vocabularies are known (as Keras's build)."""
        from kerasish.layers.preprocessing.category_encoding import CategoryEncoding

        encoders = {}
        for key, spec, layer in self._ordered():
            if spec.output_mode == "one_hot":
                encoders[key] = CategoryEncoding(num_tokens=self._cardinality(key, layer), output_mode="multi_hot")
            elif spec.output_mode == "int" and self.output_mode == "concat":
                raise ValueError(
                    f"Cannot concatenate features because feature '{key}' has not been encoded (it has "
                    "`output_mode='int'`). Consider using `output_mode='dict'` for the FeatureSpace, or "
                    f"output_mode='one_hot' for '{key}'."
                )
        self.one_hot_encoders = encoders
        self._encoders_made = True
        self.built = True

    def _merge(self, preprocessed: Dict[str, Any], crossed: Dict[str, Any], concat: Any) -> Any:
        outputs = {}
        for key, _, _ in self._ordered():
            value = preprocessed[key] if key in preprocessed else crossed[key]
            encoder = self.one_hot_encoders.get(key)
            outputs[key] = encoder(value) if encoder is not None else value
        if self.output_mode == "dict":
            return outputs
        for key, value in outputs.items():
            dtype = getattr(value, "dtype", None)
            floating = dtype.is_floating_point if isinstance(dtype, torch.dtype) else str(dtype).startswith("float")
            if not floating:
                raise ValueError(
                    f"Cannot concatenate features because feature '{key}' has not been encoded (it has dtype "
                    f"{dtype}). Consider using `output_mode='dict'`, or a 'one_hot' output_mode for '{key}'."
                )
        return concat(list(outputs.values()))

    def __call__(self, data: Any) -> Any:
        """Encodes `data`, a dict of columns (batched, or one value per feature for one row).

        Returns:
            a float tensor of shape `(batch, output_dim)` (`(output_dim,)` for unbatched
            values) in `'concat'` mode, or a dict of encoded features in `'dict'` mode.

        Raises:
            ValueError: for data that is not a dict, lacks a feature, or before `adapt`.
        """
        self._check_if_adapted()
        if not self._encoders_made:
            self._make_encoders()
        if not isinstance(data, dict):
            raise ValueError(
                f"A FeatureSpace can only be called with a dict. Received: data={data!r} (of type "
                f"{type(data).__name__}). Pass {{feature name: values}}."
            )
        self._check_keys(data, list(self.features), "__call__()")
        unknown = sorted(key for key in data if key not in self.features)
        if unknown:  # Keras fails on them too (a KeyError): a label column passed by mistake, or a typo
            raise ValueError(
                f"FeatureSpace.__call__() received the keys {unknown}, which are not features of this FeatureSpace "
                f"(its features are {sorted(self.features)}). Pass only the feature columns, e.g. x without the labels."
            )
        rebatched = False
        columns = {}
        for key, spec in self.features.items():
            x = _column(data[key], key)
            if spec.dtype == "float32":
                if not isinstance(x, torch.Tensor):
                    raise TypeError(
                        f"FeatureSpace: feature {key!r} is a float feature but received strings. Pass numbers, or "
                        "declare it as a string feature (e.g. 'string_categorical')."
                    )
                x = x.to(torch.float32)
            rebatched = rebatched or _rank(x) == 0
            columns[key] = _as_rows(x)
        preprocessed = {key: self.preprocessors[key](x) for key, x in columns.items()}
        crossed = {cross.name: self.crossers[cross.name]([preprocessed[k] for k in cross.feature_names])
                   for cross in self.crosses}
        merged = self._merge(preprocessed, crossed, lambda xs: torch.cat([x.to(torch.float32) for x in xs], dim=-1))
        if rebatched:
            if self.output_mode == "concat":
                return merged[0]
            return {key: x[0] if _rank(x) == 2 and x.shape[0] == 1 else x for key, x in merged.items()}
        return merged

    @property
    def output_dim(self) -> int:
        """The width of the concatenated vector (an adapted FeatureSpace in `'concat'` mode)."""
        self._check_if_adapted()
        if not self._encoders_made:
            self._make_encoders()
        if self.output_mode != "concat":
            raise ValueError(
                "output_dim is the width of the concatenated vector, but this FeatureSpace has output_mode='dict'. "
                "Read each feature's width from the dict it returns."
            )
        width = 0
        for key, _, layer in self._ordered():
            encoder = self.one_hot_encoders.get(key)
            width += encoder.num_tokens if encoder is not None else layer.compute_output_shape((None, 1))[-1]
        return int(width)

    # ------------------------------------------------------------------ functional API
    def get_inputs(self) -> Dict[str, Any]:
        """A dict of `kerasish.Input` objects, one per feature, for a functional model.

        Raises:
            ValueError: when a feature takes strings (kerasish has no string tensors), or before `adapt`.
        """
        self._check_if_adapted()
        strings = [key for key, spec in self.features.items() if spec.dtype == "string"]
        if strings:
            raise ValueError(
                f"FeatureSpace.get_inputs() cannot make symbolic inputs for the string features {strings}: kerasish "
                "has no string tensors. Call the FeatureSpace on the data (encoded = feature_space(batch)) and build "
                "the model on kerasish.Input(shape=(feature_space.output_dim,))."
            )
        if self._inputs is None:
            from kerasish.layers.core import Input

            self._inputs = {key: Input(shape=(1,), dtype=spec.dtype, name=key) for key, spec in self.features.items()}
        return self._inputs

    def get_encoded_features(self) -> Any:
        """The encoded features of `get_inputs()`, symbolically: the input of the layers that follow.

        Raises:
            ValueError: as `get_inputs()`.
        """
        inputs = self.get_inputs()
        if self.encoded_features is None:
            from kerasish.layers.merging import Concatenate

            if not self._encoders_made:
                self._make_encoders()
            preprocessed = {key: self.preprocessors[key](x) for key, x in inputs.items()}
            crossed = {cross.name: self.crossers[cross.name]([preprocessed[k] for k in cross.feature_names])
                       for cross in self.crosses}
            self.encoded_features = self._merge(preprocessed, crossed, Concatenate(axis=-1))
        return self.encoded_features

    # ------------------------------------------------------------------ config and files
    def get_config(self) -> Dict[str, Any]:
        return {
            "features": {key: spec_envelope(feature) for key, feature in self.features.items()},
            "output_mode": self.output_mode,
            "crosses": [spec_envelope(cross) for cross in self.crosses],
            "crossing_dim": self.crossing_dim,
            "hashing_dim": self.hashing_dim,
            "num_discretization_bins": self.num_discretization_bins,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "FeatureSpace":
        return cls(**config)

    def save(self, filepath: Any) -> None:
        """Writes the FeatureSpace (its config and adapted state) to a `.json` file.

        Reload it with `FeatureSpace.load(filepath)`. Keras writes a `.keras` file instead.

        Raises:
            ValueError: for a path that does not end in `.json`.
        """
        import json

        from kerasish.utils.io import atomic_write

        path = _json_path(filepath, "save")
        state = {key: [np.asarray(w).tolist() for w in layer.get_weights()]
                 for key, layer in self.preprocessors.items() if hasattr(layer, "get_weights") and layer.get_weights()}
        document = {"class_name": "FeatureSpace", "config": self.get_config(), "weights": state,
                    "adapted": self._is_adapted}
        with atomic_write(path, "w") as f:
            json.dump(document, f)

    @classmethod
    def load(cls, filepath: Any) -> "FeatureSpace":
        """Reads a FeatureSpace written by `save()`, adapted as it was saved.

        Raises:
            ValueError: for a path that does not end in `.json`, or a file `save()` did not write.
        """
        import json

        path = _json_path(filepath, "load")
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        if not isinstance(document, dict) or document.get("class_name") != "FeatureSpace":
            raise ValueError(
                f"{path} does not hold a FeatureSpace (expected a JSON object with class_name='FeatureSpace', as "
                "FeatureSpace.save() writes). Pass a file written by feature_space.save(path)."
            )
        space = cls.from_config(document["config"])
        for key, weights in document.get("weights", {}).items():
            layer = space.preprocessors[key]
            if not layer.built:
                layer.build((None, 1))
            layer.set_weights([np.asarray(w, dtype=current.dtype)
                               for w, current in zip(weights, layer.get_weights())])
            layer._is_adapted = True
        if document.get("adapted"):
            space._check_if_adapted()
            space._make_encoders()
        return space


def _json_path(filepath: Any, verb: str) -> str:
    import os

    path = os.fspath(filepath)
    if not path.endswith(".json"):
        raise ValueError(
            f"FeatureSpace.{verb}() received filepath={path!r}; kerasish writes a FeatureSpace as JSON, so the path "
            "must end in '.json' (Keras's '.keras' file for a FeatureSpace is not supported). Pass e.g. "
            "'feature_space.json'."
        )
    return path
