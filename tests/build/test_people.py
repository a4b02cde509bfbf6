"""hg_build.people on real faces (tests/fixtures/media/faces: three photos of one man, one of
another, one of a woman, a scaled copy and a three-person collage) and on synthetic people:
each person one cluster, incremental assignment keeps known ids."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hg_build import people
from hg_extract.ml import faces
from tests.conftest import media_file

PERSON = {
    "obama-portrait.jpg": "obama",
    "obama-speech.jpg": "obama",
    "obama-blue-room.jpg": "obama",
    "biden-portrait.jpg": "biden",
    "astronaut-collins.jpg": "collins",
}


def preview(img: Image.Image) -> Image.Image:
    img = img.convert("RGB")
    img.thumbnail((800, 800))
    return img


@pytest.fixture(scope="module")
def real():
    """(descriptor, person) of every face hg would keep, photo by photo."""
    model = faces.FaceModel()
    images = {name: preview(Image.open(media_file(f"faces/{name}"))) for name in PERSON}
    scaled = images["obama-portrait.jpg"].resize((384, 480))
    group = Image.new("RGB", (1500, 700), "white")
    for i, name in enumerate(("obama-portrait.jpg", "biden-portrait.jpg", "astronaut-collins.jpg")):
        part = images[name].copy()
        part.thumbnail((500, 700))
        group.paste(part, (500 * i, 0))
    found = []
    for name, img in [*images.items(), ("scaled", scaled), ("group", preview(group))]:
        for face in model.run(faces.rgb_array(img)).faces:
            if face.score < 0.3:
                continue
            cx = (face.box[0] + face.box[2] / 2) / img.width
            thirds = ["obama", "biden", "collins"]
            who = thirds[min(2, int(cx * 3))] if name == "group" else PERSON.get(name, "obama")
            found.append((face.descriptor, who))
    return np.stack([d for d, _ in found]), [p for _, p in found]


def test_full_clustering_gives_each_person_one_cluster(real):
    vectors, persons = real
    assert len(vectors) == 9  # 5 photos + the scaled copy + 3 in the collage
    labels = people.cluster(vectors)
    by_person = {p: {int(label) for label, q in zip(labels, persons, strict=True) if q == p}
                 for p in set(persons)}  # fmt: skip
    assert all(len(ls) == 1 for ls in by_person.values()), by_person
    assert len(set(labels)) == 3


def test_incremental_assignment_keeps_known_people(real):
    vectors, persons = real
    first = [persons.index("obama"), persons.index("biden")]
    known = vectors[first]
    known_ids = np.array([7, 9])
    rest = [i for i in range(len(persons)) if i not in first]
    ids = people.assign(known, known_ids, vectors[rest], next_id=10)
    id_of = {}
    for i, pid in zip(rest, ids, strict=True):
        id_of.setdefault(persons[i], set()).add(int(pid))
    for i, pid in zip(first, known_ids, strict=True):
        assert id_of.get(persons[i], {int(pid)}) == {int(pid)}  # joined the known person
    assert id_of["collins"] == {10}  # new, and the collage's collins joined the first one


def test_synthetic_people_cluster_and_assign():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(40, 128)).astype(np.float32)
    centres *= 0.6 / np.linalg.norm(centres, axis=1, keepdims=True)  # ~0.85 apart
    noise = rng.normal(size=(40, 10, 128)).astype(np.float32) * (0.12 / np.sqrt(128))
    faces_ = (centres[:, None, :] + noise).reshape(-1, 128)
    truth = np.repeat(np.arange(40), 10)
    labels = people.cluster(faces_)
    assert len(set(labels)) == 40
    assert all(len(set(labels[truth == p])) == 1 for p in range(40))
    ids = people.assign(faces_[::2], truth[::2], faces_[1::2], next_id=100)
    assert (ids == truth[1::2]).all()
    assert (people.assign(np.zeros((0, 128)), np.zeros(0), faces_[:3], 5) == [5, 5, 5]).all()
