"""Face preprocessing: defensive decoding, detection, cropping, and the face Lambda."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import base64
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from facemood import faces
from facemood.errors import InvalidImage
from facemood.faces import FacePreprocessor, decode_photo
from tests.photos import (
    FACELESS_SAMPLES,
    encode,
    encode_jpeg,
    event_for,
    faceless_photos,
    faceless_sample,
    make_photo,
    upscaled,
)

SETTINGS = faces.load_face_settings()
GRADIENT = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))  # 64 wide, 48 tall


@pytest.fixture(scope="module")
def preprocessor():
    """One preprocessor (the detector loads once)."""
    return FacePreprocessor(SETTINGS)


@pytest.fixture(scope="module")
def training_faces(fer2013):
    """Training faces (never PublicTest) for detection tests."""
    picked = np.flatnonzero(fer2013["usage"] == "Training")[::997][:24]
    return fer2013["pixels"][picked]


def test_exif_orientation_is_applied():
    image = Image.fromarray(np.repeat(GRADIENT[..., None], 3, axis=2))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rgb = decode_photo(encode(image, "JPEG", exif=exif.tobytes()), SETTINGS)
    assert rgb.shape == (64, 48, 3)  # width and height swapped: upright


@pytest.mark.parametrize("mode", ["CMYK", "P", "RGBA", "LA", "L", "I;16"])
def test_unusual_modes_become_rgb(mode):
    base = Image.fromarray(GRADIENT)
    image = base.convert(mode) if mode != "I;16" else Image.fromarray(GRADIENT.astype(np.uint16) * 257)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    rgb = decode_photo(encode(image, fmt), SETTINGS)
    assert rgb.dtype == np.uint8 and rgb.shape == (48, 64, 3)
    assert abs(int(rgb[:, -1].mean()) - 255) < 20 and rgb[:, 0].mean() < 20  # the gradient survived


def test_transparent_pixels_become_white():
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 3] = 0
    rgb = decode_photo(encode(Image.fromarray(rgba, "RGBA"), "PNG"), SETTINGS)
    assert (rgb == 255).all()


def test_animated_images_use_the_first_frame():
    frames = [Image.fromarray(np.full((48, 64), v, np.uint8)).convert("RGB") for v in (10, 240)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert decode_photo(data, SETTINGS).mean() < 30


@pytest.mark.parametrize("kind", ["GIF", "BMP", "TIFF"])
def test_formats_the_message_does_not_name_are_refused_with_it(kind):
    data = encode(Image.fromarray(GRADIENT), kind)
    with pytest.raises(InvalidImage, match=r"not a photo this service can read \(JPEG, PNG or WebP\)"):
        decode_photo(data, SETTINGS)


def test_webp_is_read():
    assert decode_photo(encode(Image.fromarray(GRADIENT), "WEBP"), SETTINGS).shape == (48, 64, 3)


def test_too_many_megapixels_is_refused_before_decoding():
    data = encode(Image.new("L", (7000, 6000)), "PNG")  # 42 MP, a few KB compressed
    with pytest.raises(InvalidImage, match=r"7000x6000 = 42.0 megapixels; the limit is 40"):
        decode_photo(data, SETTINGS)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A 400-megapixel PNG of a few hundred KB."""
    return encode(Image.new("L", (20000, 20000)), "PNG")


def test_decompression_bomb_is_refused(bomb):
    with pytest.raises(InvalidImage, match="too large to decode safely"):  # PIL's own guard, whatever our limit
        decode_photo(bomb, replace(SETTINGS, max_megapixels=1000.0))


def test_oversized_request_is_refused():
    with pytest.raises(InvalidImage, match=r"^the photo is 6.7 MiB; the limit is 6.0 MiB$"):
        decode_photo(b"\xff" * 7_000_000, SETTINGS)


@pytest.mark.parametrize("data, message", [
    (b"", "the photo is empty"),
    (b"emotion,pixels\n3,1 2 3", "not a photo this service can read"),
    (encode(Image.fromarray(GRADIENT), "PNG")[:60], "damaged or truncated"),
])
def test_bad_files_get_clear_errors(data, message):
    with pytest.raises(InvalidImage, match=message):
        decode_photo(data, SETTINGS)


def test_tight_upscaled_fer_crop_is_found(preprocessor, training_faces):
    hits = sum(bool(preprocessor.faces_in_array(upscaled(face, 192))) for face in training_faces[:12])
    assert hits >= 10


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.8])
def test_faces_covering_5_to_80_percent_of_the_frame_are_found(preprocessor, training_faces, fraction):
    width, height = 600, 600
    side = int((fraction * width * height) ** 0.5)
    hits = 0
    for face in training_faces[:10]:
        photo = np.full((height, width, 3), 128, np.uint8)
        x, y = (width - side) // 2, (height - side) // 2
        photo[y:y + side, x:x + side] = upscaled(face, side)
        found = preprocessor.faces_in_array(photo)
        hits += any(x <= f.box[0] + f.box[2] / 2 <= x + side for f in found)
    assert hits >= 9


def test_two_faces_are_both_returned_largest_first(preprocessor, training_faces):
    photo = np.full((480, 640, 3), 90, np.uint8)
    photo[40:240, 20:220] = upscaled(training_faces[0], 200)
    photo[250:390, 400:540] = upscaled(training_faces[1], 140)
    found = preprocessor.faces_in_array(photo)
    assert len(found) == 2, [f.box for f in found]
    areas = [f.box[2] * f.box[3] for f in found]
    assert areas[0] >= areas[1]
    centres = sorted(f.box[0] + f.box[2] / 2 for f in found)
    assert 20 <= centres[0] <= 220 and 400 <= centres[1] <= 540


def test_the_face_cap_is_applied(training_faces):
    photo = np.full((480, 960, 3), 90, np.uint8)
    for i in range(3):
        photo[100:300, 20 + 320 * i:220 + 320 * i] = upscaled(training_faces[i], 200)
    capped = FacePreprocessor(replace(SETTINGS, max_faces=2)).faces_in_array(photo)
    assert len(capped) == 2


def test_no_face_is_an_empty_result_not_a_guess(preprocessor):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert not preprocessor.faces_in_array(np.full((480, 640, 3), 200, np.uint8))
    assert len(preprocessor.faces_in_array(noise)) == 0


def test_a_cats_face_is_not_a_face(preprocessor):
    # MTCNN alone boxes the cat (O-net 0.63) and the page read it as "Neutral (47%)".
    cat = faceless_sample("chelsea")
    assert faces.FaceDetector(replace(SETTINGS, confirm_below=0.0)).detect(cat), "MTCNN alone sees a face"
    assert preprocessor(encode_jpeg(cat)).faces == []


@pytest.mark.parametrize("name", FACELESS_SAMPLES)
def test_photos_without_a_human_face_give_no_face(preprocessor, name):
    assert preprocessor.faces_in_array(faceless_sample(name)) == []


def test_crops_of_faceless_photos_give_no_face(preprocessor):
    found = [name for name, photo in faceless_photos(60) if preprocessor.faces_in_array(photo)]
    assert not found, found


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_real_photographs_of_people_keep_their_face(preprocessor, name):
    assert len(preprocessor.faces_in_array(faceless_sample(name))) == 1


def test_crops_match_fer2013_framing(preprocessor, training_faces):
    """A face pasted at any size crops back to (nearly) the original 48x48 face."""
    rng = np.random.default_rng(2)
    own, other = [], []
    for i, face in enumerate(training_faces[:16]):
        photo, _ = make_photo(rng, [face], (640, 480))
        found = preprocessor.faces_in_array(photo)
        if found:
            crop = found[0].crop.ravel().astype(float)
            assert found[0].crop.shape == (48, 48) and found[0].crop.dtype == np.uint8
            own.append(np.corrcoef(crop, face.ravel().astype(float))[0, 1])
            other.append(np.corrcoef(crop, training_faces[(i + 5) % 16].ravel().astype(float))[0, 1])
    # FER2013's own framing varies from face to face, so a crop matches its source only roughly.
    assert len(own) >= 14 and np.median(own) > 0.35 and np.median(own) > np.median(other) + 0.25, (own, other)


@pytest.mark.parametrize("orientation", [1, 6])
def test_large_jpeg_is_decoded_reduced_and_boxes_are_in_photo_coordinates(preprocessor, training_faces,
                                                                          orientation):
    """A 960x1280 portrait JPEG is decoded at a reduced scale, yet boxes and size refer to the
    full upright photo, also when it is stored turned and EXIF says to turn it back."""
    upright = np.full((1280, 960, 3), 100, np.uint8)
    upright[700:1100, 200:600] = upscaled(training_faces[0], 400)
    stored = upright if orientation == 1 else np.ascontiguousarray(np.rot90(upright))  # 6: shown turned clockwise
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes())
    rgb, size = faces.decode_photo_reduced(data, SETTINGS, SETTINGS.detect_long_side)
    assert size == (960, 1280) and max(rgb.shape[:2]) < 1280 and max(rgb.shape[:2]) >= SETTINGS.detect_long_side
    reading = preprocessor(data)
    found, size = reading.faces, reading.image_size
    assert size == (960, 1280) and len(found) == 1
    x, y, w, h = found[0].box
    assert 200 <= x + w / 2 <= 600 and 700 <= y + h / 2 <= 1100 and 200 <= w <= 400, found[0].box


def test_face_lambda_returns_boxes_and_crops(training_faces):
    from lambdas import face as face_lambda

    photo, boxes = make_photo(np.random.default_rng(3), [training_faces[2]], (640, 480))
    response = face_lambda.handler(event_for(encode_jpeg(photo)), None)
    assert response["ok"] is True and response["image_size"] == [640, 480]
    assert len(response["faces"]) == 1 and response["faces_found"] == 1
    crop = faces.decode_png(response["faces"][0]["crop_png"])
    assert crop.shape == (48, 48)
    x, y, side = boxes[0]
    bx, by, bw, bh = response["faces"][0]["box"]
    assert x <= bx + bw / 2 <= x + side and y <= by + bh / 2 <= y + side
    assert len(json.dumps(response)) < 100_000


@pytest.mark.parametrize("event, error", [
    ({}, 'the request must be {"image": "<base64 JPEG, PNG or WebP>"}'),
    ({"image": "not base64!!"}, "the image is not valid base64"),
    ({"image": base64.b64encode(b"hello").decode()}, "not a photo this service can read"),
    ({"image": "A" * 7_000_000}, "the request is 6.7 MiB; Lambda's limit is 6.0 MiB"),
])
def test_face_lambda_errors_are_structured(event, error):
    from lambdas import face as face_lambda

    response = face_lambda.handler(event, None)
    assert response["ok"] is False and error in response["error"]


def test_face_lambda_says_no_face_found():
    from lambdas import face as face_lambda

    response = face_lambda.handler(event_for(encode_jpeg(np.full((480, 640, 3), 180, np.uint8))), None)
    assert response == {"ok": True, "image_size": [640, 480], "faces": [], "faces_found": 0,
                        "message": "no face found"}


def test_a_large_upload_is_downscaled_to_fit_the_lambda_payload():
    from facemood.app_settings import load_app_settings
    from facemood.checkin import read_upload
    from facemood.face_steps import encode_jpeg as encode_for_lambda

    settings = load_app_settings()
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (2400, 3200, 3), dtype=np.uint8))
    data = encode(noisy, "JPEG", quality=98)
    assert len(data) > settings.faces.max_request_bytes  # too big for the Lambda as it is
    shown = read_upload(data, settings)
    assert max(shown.shape[:2]) == settings.upload_max_side
    jpeg = encode_for_lambda(shown, settings.upload_jpeg_quality)
    assert len(jpeg) * 4 / 3 < settings.faces.max_request_bytes  # fits once base64-encoded


def test_faces_beyond_the_cap_are_counted(training_faces):
    photo = np.full((480, 1280, 3), 90, np.uint8)
    for i in range(5):
        photo[140:340, 20 + 250 * i:220 + 250 * i] = upscaled(training_faces[i], 200)
    reading = FacePreprocessor(replace(SETTINGS, max_faces=3)).read_array(photo)
    assert len(reading.faces) == 3 and reading.found >= 4, reading.found
    assert reading.image_size == (1280, 480)


def test_the_face_lambda_reports_every_face_found(training_faces):
    from lambdas import face as face_lambda

    photo = np.full((480, 1920, 3), 90, np.uint8)
    for i in range(7):
        photo[140:340, 20 + 270 * i:220 + 270 * i] = upscaled(training_faces[i], 200)
    response = face_lambda.handler(event_for(encode_jpeg(photo)), None)
    assert len(response["faces"]) == SETTINGS.max_faces and response["faces_found"] >= 6, response["faces_found"]


@pytest.mark.parametrize("data", [b"GIF89a" + bytes(40), b"\x89PNG\r\n\x1a\n" + bytes(40), b"%PDF-1.4 hello"])
def test_error_messages_carry_no_internal_details(data):
    with pytest.raises(InvalidImage) as caught:
        decode_photo(data, SETTINGS)
    message = str(caught.value)
    assert message in ("the file is not a photo this service can read (JPEG, PNG or WebP)",
                       "the photo is damaged or truncated"), message
    assert "0x" not in message and "BytesIO" not in message


def test_a_bomb_is_refused_in_plain_words(bomb):
    with pytest.raises(InvalidImage) as caught:
        decode_photo(bomb, replace(SETTINGS, max_megapixels=1000.0))
    assert str(caught.value) == "the photo is too large to decode safely"


def test_decoded_memory_is_budgeted_by_bytes_not_pixels():
    rgba = encode(Image.new("RGBA", (6400, 6000)), "PNG")  # 38.4 MP, 4 bytes a pixel once decoded
    with pytest.raises(InvalidImage, match=r"^the photo is 6400x6000 in 8-bit colour with transparency: decoding "
                                           r"it would take 146.5 MiB; the limit is 128 MiB$"):
        decode_photo(rgba, SETTINGS)


def test_a_16_bit_photo_is_read_as_8_bit():
    ramp = (np.tile(np.linspace(0, 65535, 300), (200, 1))).astype(np.uint16)
    rgb = decode_photo(encode(Image.fromarray(ramp), "PNG"), SETTINGS)
    assert rgb.shape == (200, 300, 3) and rgb.dtype == np.uint8
    assert rgb[:, 0].max() == 0 and rgb[:, -1].min() == 255
    np.testing.assert_array_equal(rgb[0, :, 0], (ramp[0] >> 8).astype(np.uint8))


def test_a_48_megapixel_phone_jpeg_is_read_at_a_reduced_scale(training_faces):
    photo = np.full((6000, 8000, 3), 120, np.uint8)
    photo[2000:4400, 3000:5400] = upscaled(training_faces[0], 2400)
    data = encode(Image.fromarray(photo), "JPEG", quality=80)
    with pytest.raises(InvalidImage, match="48.0 megapixels; the limit is 40"):
        decode_photo(data, SETTINGS)  # decoded whole, it is too large
    reading = FacePreprocessor(SETTINGS)(data)  # at 1/8 scale it is 1000x750
    assert reading.image_size == (8000, 6000) and len(reading.faces) == 1
    x, y, w, h = reading.faces[0].box
    assert 3000 <= x + w / 2 <= 5400 and 2000 <= y + h / 2 <= 4400


def test_a_phone_photo_is_shown_at_the_pages_size_with_the_box_on_the_face(training_faces):
    """A 12 MP photo is decoded for the page straight at the size it is shown (the check-in used
    to decode it at 2016 and shrink it twice), and the face's box is scaled to that size."""
    from facemood import bundle
    from facemood.app_settings import load_app_settings
    from facemood.checkin import check_in
    from facemood.config import REPO_ROOT
    from facemood.face_steps import InProcessFaceStep

    settings = load_app_settings()
    photo = np.full((3024, 4032, 3), 120, np.uint8)
    photo[1000:2200, 1500:2700] = upscaled(training_faces[0], 1200)
    result = check_in(encode(Image.fromarray(photo), "JPEG"), InProcessFaceStep(settings.faces, 1),
                      bundle.load_bundle(str(REPO_ROOT)), settings, 840)
    assert result.photo.shape == (630, 840, 3) and len(result.readings) == 1
    x, y, w, h = result.readings[0].face.box  # in the shown photo's pixels: 840/4032 of the photo's
    scale = 840 / 4032
    assert 1500 * scale <= x + w / 2 <= 2700 * scale and 1000 * scale <= y + h / 2 <= 2200 * scale, (x, y, w, h)
