"""keras-io's example "Collaborative Filtering for Movie Recommendations"
(`examples/structured_data/collaborative_filtering_movielens.py`), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`;
`keras.ops.tensordot` and `keras.ops.nn.sigmoid` in place of `tf.tensordot` and `tf.nn.sigmoid`, as the
example's Keras 3 edition writes them) and the lines marked `# changed:`: seeded synthetic `ratings.csv`
and `movies.csv` frames with MovieLens's columns (ratings from hidden user and movie factors, half-star
steps from 0.5 to 5) stand in for the zip download, 90 users and 120 movies, 3 epochs; the plot is left
out (what it would draw is kept and compared); the user is drawn with a seeded `sample`; Keras's initial
weights are copied in (both models are built by one call first), `shuffle=False` is passed and the
progress bar is one line an epoch (`verbose=2`). Keras 3 (torch backend, `tests/keras_parity.py`) runs
the same code: the History (with the embeddings' L2 penalty in the loss), the printed lines, the
predicted ratings and the ten recommended movies are compared.

As written, `tensordot(user_vector, movie_vector, 2)` contracts both axes of the two `(batch, 50)`
matrices, so every sample of a batch gets the same batch-wide match score plus its own two biases:
a prediction depends on the batch it is in. That is the example's arithmetic, run the same in both
libraries (pinned below), not a kerasish choice.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _movielens():  # changed: synthetic frames in place of ml-latest-small's ratings.csv and movies.csv
    rng = np.random.default_rng(0)
    user_factors, movie_factors = rng.normal(size=(90, 3)), rng.normal(size=(120, 3))
    users = rng.integers(0, 90, size=2400)
    movies = rng.integers(0, 120, size=2400)
    pairs = np.unique(np.stack([users, movies], axis=1), axis=0)
    pairs = pairs[rng.permutation(len(pairs))]
    score = np.sum(user_factors[pairs[:, 0]] * movie_factors[pairs[:, 1]], axis=1)
    rating = np.clip(np.round((2.75 + 0.9 * score + rng.normal(scale=0.3, size=len(pairs))) * 2) / 2, 0.5, 5.0)
    df = pd.DataFrame({
        "userId": pairs[:, 0] * 3 + 1,  # ids are not 0..n-1, as in MovieLens
        "movieId": pairs[:, 1] * 7 + 2,
        "rating": rating,
        "timestamp": 964982703 + np.arange(len(pairs)),
    })
    genres = np.array(["Comedy", "Drama", "Action|Thriller", "Animation|Children", "Sci-Fi"])
    movie_df = pd.DataFrame({
        "movieId": np.arange(130) * 7 + 2,  # a few movies nobody rated
        "title": [f"Movie {i} ({1980 + i % 40})" for i in range(130)],
        "genres": genres[np.arange(130) % 5],
    })
    return df, movie_df


def _data():
    df, movie_df = _movielens()  # changed: df = pd.read_csv(ratings_file)
    user_ids = df["userId"].unique().tolist()
    user2user_encoded = {x: i for i, x in enumerate(user_ids)}
    userencoded2user = {i: x for i, x in enumerate(user_ids)}
    movie_ids = df["movieId"].unique().tolist()
    movie2movie_encoded = {x: i for i, x in enumerate(movie_ids)}
    movie_encoded2movie = {i: x for i, x in enumerate(movie_ids)}
    df["user"] = df["userId"].map(user2user_encoded)
    df["movie"] = df["movieId"].map(movie2movie_encoded)

    num_users = len(user2user_encoded)
    num_movies = len(movie_encoded2movie)
    df["rating"] = df["rating"].values.astype(np.float32)
    # min and max ratings will be used to normalize the ratings later
    min_rating = min(df["rating"])
    max_rating = max(df["rating"])

    print(
        "Number of users: {}, Number of Movies: {}, Min rating: {}, Max rating: {}".format(
            num_users, num_movies, min_rating, max_rating
        )
    )

    df = df.sample(frac=1, random_state=42)
    x = df[["user", "movie"]].values
    # Normalize the targets between 0 and 1. Makes it easy to train.
    y = df["rating"].apply(lambda x: (x - min_rating) / (max_rating - min_rating)).values
    # Assuming training on 90% of the data and validating on 10%.
    train_indices = int(0.9 * df.shape[0])
    x_train, x_val, y_train, y_val = (
        x[:train_indices],
        x[train_indices:],
        y[:train_indices],
        y[train_indices:],
    )
    return {
        "df": df, "movie_df": movie_df, "num_users": num_users, "num_movies": num_movies,
        "user2user_encoded": user2user_encoded, "movie2movie_encoded": movie2movie_encoded,
        "movie_encoded2movie": movie_encoded2movie, "x_train": x_train, "x_val": x_val,
        "y_train": y_train, "y_val": y_val, "userencoded2user": userencoded2user,
    }


EMBEDDING_SIZE = 50


def _recommender_net(keras):  # changed: the class is defined for the library passed in
    layers, ops = keras.layers, keras.ops

    class RecommenderNet(keras.Model):
        def __init__(self, num_users, num_movies, embedding_size, **kwargs):
            super(RecommenderNet, self).__init__(**kwargs)
            self.num_users = num_users
            self.num_movies = num_movies
            self.embedding_size = embedding_size
            self.user_embedding = layers.Embedding(
                num_users,
                embedding_size,
                embeddings_initializer="he_normal",
                embeddings_regularizer=keras.regularizers.l2(1e-6),
            )
            self.user_bias = layers.Embedding(num_users, 1)
            self.movie_embedding = layers.Embedding(
                num_movies,
                embedding_size,
                embeddings_initializer="he_normal",
                embeddings_regularizer=keras.regularizers.l2(1e-6),
            )
            self.movie_bias = layers.Embedding(num_movies, 1)

        def call(self, inputs):
            user_vector = self.user_embedding(inputs[:, 0])
            user_bias = self.user_bias(inputs[:, 0])
            movie_vector = self.movie_embedding(inputs[:, 1])
            movie_bias = self.movie_bias(inputs[:, 1])
            dot_user_movie = ops.tensordot(user_vector, movie_vector, 2)  # changed: tf.tensordot
            # Add all the components (including bias)
            x = dot_user_movie + user_bias + movie_bias
            # The sigmoid activation forces the rating to between 0 and 1
            return ops.nn.sigmoid(x)  # changed: tf.nn.sigmoid

    return RecommenderNet


def _model(keras, data):
    keras.backend.clear_session()  # changed: names restart in both libraries
    RecommenderNet = _recommender_net(keras)
    model = RecommenderNet(data["num_users"], data["num_movies"], EMBEDDING_SIZE)
    model.compile(
        loss=keras.losses.BinaryCrossentropy(),  # changed: tf.keras.losses
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
    )
    model(data["x_train"][:2])  # changed: built by a call, so that Keras's weights can be copied in
    return model


def _train_and_recommend(keras, data, weights):
    model = _model(keras, data)
    model.set_weights(weights)  # changed: Keras's initial weights in both
    x_train, y_train, x_val, y_val = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    history = model.fit(
        x=x_train,
        y=y_train,
        batch_size=64,
        epochs=3,  # changed: 5, for speed
        verbose=2,  # changed: 1; one line an epoch, as the progress bar's timings vary
        validation_data=(x_val, y_val),
        shuffle=False,  # changed: the same batches in both libraries
    )

    df, movie_df = data["df"], data["movie_df"]
    movie2movie_encoded, user2user_encoded = data["movie2movie_encoded"], data["user2user_encoded"]
    movie_encoded2movie = data["movie_encoded2movie"]
    # Let us get a user and see the top recommendations.
    user_id = df.userId.sample(1, random_state=7).iloc[0]  # changed: seeded
    movies_watched_by_user = df[df.userId == user_id]
    movies_not_watched = movie_df[
        ~movie_df["movieId"].isin(movies_watched_by_user.movieId.values)
    ]["movieId"]
    movies_not_watched = list(
        set(movies_not_watched).intersection(set(movie2movie_encoded.keys()))
    )
    movies_not_watched = [[movie2movie_encoded.get(x)] for x in movies_not_watched]
    user_encoder = user2user_encoded.get(user_id)
    user_movie_array = np.hstack(
        ([[user_encoder]] * len(movies_not_watched), movies_not_watched)
    )
    ratings = model.predict(user_movie_array, verbose=0).flatten()  # changed: verbose=0
    top_ratings_indices = ratings.argsort()[-10:][::-1]
    recommended_movie_ids = [
        movie_encoded2movie.get(movies_not_watched[x][0]) for x in top_ratings_indices
    ]

    print("Showing recommendations for user: {}".format(user_id))
    print("====" * 9)
    print("Movies with high ratings from user")
    print("----" * 8)
    top_movies_user = (
        movies_watched_by_user.sort_values(by="rating", ascending=False)
        .head(5)
        .movieId.values
    )
    movie_df_rows = movie_df[movie_df["movieId"].isin(top_movies_user)]
    for row in movie_df_rows.itertuples():
        print(row.title, ":", row.genres)

    print("----" * 8)
    print("Top 10 movie recommendations")
    print("----" * 8)
    recommended_movies = movie_df[movie_df["movieId"].isin(recommended_movie_ids)]
    for row in recommended_movies.itertuples():
        print(row.title, ":", row.genres)
    return model, history, ratings, recommended_movie_ids


def test_the_data_is_encoded_as_the_example_encodes_it(capsys):
    data = _data()
    assert capsys.readouterr().out.splitlines() == [
        f"Number of users: {data['num_users']}, Number of Movies: {data['num_movies']}, "
        "Min rating: 0.5, Max rating: 5.0"
    ]
    assert data["num_users"] == 90 and data["num_movies"] == 120
    assert data["x_train"].dtype == np.int64 and data["x_train"].shape[1] == 2
    assert data["x_train"][:, 0].max() == 89 and data["x_train"][:, 1].max() == 119
    assert 0.0 == data["y_train"].min() and data["y_train"].max() == 1.0


def test_train_and_recommend_as_keras(capsys):
    k = keras_module()
    k.utils.set_random_seed(0)  # the same initial weights on every run
    data = _data()
    weights = _model(k, data).get_weights()
    assert [w.shape for w in weights] == [(90, 50), (90, 1), (120, 50), (120, 1)]
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _train_and_recommend(lib, data, weights) + (text_and_numbers(capsys.readouterr().out.splitlines()),)
    ours, theirs = runs[kerasish], runs[k]
    h_ours, h_theirs = ours[1], theirs[1]
    assert list(h_ours.history) == list(h_theirs.history) == ["loss", "val_loss"]
    assert h_ours.epoch == h_theirs.epoch == [0, 1, 2]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-5)
    assert h_ours.history["loss"][-1] < h_ours.history["loss"][0]
    assert_close(ours[0].get_weights(), theirs[0].get_weights(), atol=1e-5, rtol=1e-4)
    assert_close(ours[2], theirs[2], atol=1e-6, rtol=1e-5)  # the predicted ratings
    assert ours[3] == theirs[3] and len(ours[3]) == 10  # the same ten movies, in the same order
    (text_ours, numbers_ours), (text_theirs, numbers_theirs) = ours[4], theirs[4]
    assert text_ours == text_theirs
    assert text_ours[:2] == ["Epoch #/#", "#/# - <time> - <time>/step - loss: # - val_loss: #"]
    assert "Top # movie recommendations" in text_ours
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-5, atol=1e-6)


def test_the_penalty_of_the_embeddings_is_in_the_loss_as_in_keras():
    k = keras_module()
    data = _data()
    weights = _model(k, data).get_weights()
    x, y = data["x_train"][:64], data["y_train"][:64]
    results = {}
    for lib in (k, kerasish):
        model = _model(lib, data)
        model.set_weights(weights)
        results[lib] = (model.evaluate(x, y, batch_size=64, verbose=0),
                        lib.losses.BinaryCrossentropy()(y, model.predict(x, batch_size=64, verbose=0)))
    penalty = 1e-6 * sum(float(np.sum(np.square(weights[i]))) for i in (0, 2))
    assert penalty > 1e-6
    np.testing.assert_allclose(results[kerasish][0], results[k][0], rtol=1e-6)
    np.testing.assert_allclose(results[kerasish][0], float(results[kerasish][1]) + penalty, rtol=1e-6)


def test_a_prediction_depends_on_its_batch_as_written_in_both():
    k = keras_module()
    data = _data()
    weights = _model(k, data).get_weights()
    x = data["x_val"][:8]
    outputs = {}
    for lib in (k, kerasish):
        model = _model(lib, data)
        model.set_weights(weights)
        outputs[lib] = (model.predict(x, batch_size=8, verbose=0), model.predict(x[:4], batch_size=4, verbose=0))
    assert_close(outputs[kerasish], outputs[k], atol=1e-6, rtol=1e-5)
    whole, half = outputs[kerasish]
    assert not np.allclose(whole[:4], half, atol=1e-6)  # the batch-wide dot product moved


def test_ids_beyond_the_first_embedding_are_checked_only_where_x_reaches_it_whole():
    # kerasish checks token ids against a model's first Embedding (Keras would index out of range);
    # the example's first Embedding sees only inputs[:, 0], so its movie ids (up to 119) are no error.
    data = _data()
    model = _model(kerasish, data)
    history = model.fit(data["x_train"][:64], data["y_train"][:64], batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    sequential = kerasish.Sequential([kerasish.layers.Embedding(90, 4), kerasish.layers.GlobalAveragePooling1D(),
                                      kerasish.layers.Dense(1)])
    sequential.compile(loss="mse")
    with pytest.raises(ValueError, match=r"token id 1\d\d, outside \[0, 89\].*input_dim=90.*Raise input_dim"):
        sequential.fit(data["x_train"][:64], data["y_train"][:64], epochs=1, verbose=0)


def test_a_read_only_frame_trains_without_a_torch_warning():
    # The example's x is `df[["user", "movie"]].values`: read-only under pandas' copy-on-write, and
    # torch.from_numpy warns about those (once a process: hence a fresh one here). Keras warns neither in
    # fit nor in a loss called on such an array (the example's `y` is one too).
    code = (
        "import warnings, numpy as np\n"
        "import kerasish\n"
        "x = np.arange(40.0, dtype='float32').reshape(20, 2)\n"
        "x.setflags(write=False)\n"
        "model = kerasish.Sequential([kerasish.Input((2,)), kerasish.layers.Dense(1)])\n"
        "model.compile(loss='mse')\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('error')\n"
        "    model.fit(x, x[:, :1], epochs=1, verbose=0)\n"
        "    loss = kerasish.losses.MeanSquaredError()(x[:, :1], model.predict(x, verbose=0))\n"
        "print(x.flags.writeable, x[3].tolist(), loss.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False [6.0, 7.0] torch.Size([])"
