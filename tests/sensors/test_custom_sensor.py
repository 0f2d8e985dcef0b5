"""A researcher adds a sensor by writing one small class (the README shows this file)."""

import numpy as np

from hlsmap.sensors import BANDS, BandSpec, QASpec, Sensor, get_sensor, register_sensor


@register_sensor
class MySat(Sensor):
    """uint16 surface reflectance (DN / 10000, 0 = no data) and a cloud-probability layer."""

    name = "MYSAT"
    title = "MySat Level-2 surface reflectance"
    collections = {"pc": "mysat-l2"}  # STAC collection id per provider
    bands = {b: BandSpec(asset=f"sr_{b}", dtype="uint16", nodata=0, scale=1e-4) for b in BANDS}
    qa = QASpec(asset="cloud_prob", dtype="uint8", nodata=255)
    resolution = 10.0

    def to_fmask(self, qa_raw):  # cloud probability (%) -> HLS Fmask cloud bit (2), fill 255
        return np.where(qa_raw == 255, 255, np.where(qa_raw > 40, 2, 0)).astype(np.uint8)


def test_custom_sensor():
    mysat = get_sensor("mysat")
    assert mysat.harmonize("red", np.array([0, 1234], np.uint16), {}).tolist() == [-9999, 1234]
    assert mysat.to_fmask(np.array([10, 90, 255], np.uint8)).tolist() == [0, 2, 255]
    assert mysat.odc_stac_config()["mysat-l2"]["aliases"]["nir08"] == "sr_nir08"
