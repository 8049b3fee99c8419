//! Tag numbers emio reads or writes, and the names original metadata uses for them
//! (tifffile's names, so trees match what rsciio users know; unknown tags by number).

/// ImageDescription.
pub const IMAGE_DESCRIPTION: u16 = 270;
/// Private tag where emio stores its own JSON description (axes, metadata).
pub const EMIO_METADATA: u16 = 65200;
/// Make (the instrument maker).
pub const MAKE: u16 = 271;
/// XResolution.
pub const X_RESOLUTION: u16 = 282;
/// YResolution.
pub const Y_RESOLUTION: u16 = 283;
/// ResolutionUnit.
pub const RESOLUTION_UNIT: u16 = 296;
/// Software.
pub const SOFTWARE: u16 = 305;
/// DateTime.
pub const DATE_TIME: u16 = 306;
/// Artist.
pub const ARTIST: u16 = 315;
/// Olympus INI block (points at an SIS structure).
pub const OLYMPUS_INI: u16 = 33471;
/// Olympus SIS structure.
pub const OLYMPUS_SIS: u16 = 33560;
/// Zeiss SEM block.
pub const CZ_SEM: u16 = 34118;
/// EXIF sub-IFD.
pub const EXIF_IFD: u16 = 34665;
/// FEI/Thermo Fisher INI block (SFEG instruments).
pub const FEI_SFEG: u16 = 34680;
/// FEI/Thermo Fisher INI block (Helios instruments).
pub const FEI_HELIOS: u16 = 34682;
/// GPS sub-IFD.
pub const GPS_IFD: u16 = 34853;
/// TVIPS EM-MENU header.
pub const TVIPS: u16 = 37706;
/// DigitalMicrograph's private tags (DM's TIFF export, rsciio's writer): units of the x
/// (width) axis.
pub const DM_X_UNITS: u16 = 65003;
/// DigitalMicrograph: units of the y (height) axis.
pub const DM_Y_UNITS: u16 = 65004;
/// DigitalMicrograph: units of the z (stack) axis.
pub const DM_Z_UNITS: u16 = 65005;
/// DigitalMicrograph: offset of the x axis.
pub const DM_X_OFFSET: u16 = 65006;
/// DigitalMicrograph: offset of the y axis.
pub const DM_Y_OFFSET: u16 = 65007;
/// DigitalMicrograph: offset of the z axis.
pub const DM_Z_OFFSET: u16 = 65008;
/// DigitalMicrograph: scale of the x axis.
pub const DM_X_SCALE: u16 = 65009;
/// DigitalMicrograph: scale of the y axis.
pub const DM_Y_SCALE: u16 = 65010;
/// DigitalMicrograph: scale of the z axis.
pub const DM_Z_SCALE: u16 = 65011;
/// DigitalMicrograph: the intensity's quantity.
pub const DM_QUANTITY: u16 = 65022;
/// DigitalMicrograph: the gain offset of the noise model.
pub const DM_GAIN_OFFSET: u16 = 65024;
/// DigitalMicrograph: the gain factor of the noise model.
pub const DM_GAIN_FACTOR: u16 = 65025;

/// The name of a tag in original metadata.
pub fn name(tag: u16) -> String {
    let known = match tag {
        254 => "NewSubfileType",
        255 => "SubfileType",
        256 => "ImageWidth",
        257 => "ImageLength",
        258 => "BitsPerSample",
        259 => "Compression",
        262 => "PhotometricInterpretation",
        263 => "Thresholding",
        266 => "FillOrder",
        269 => "DocumentName",
        270 => "ImageDescription",
        MAKE => "Make",
        272 => "Model",
        273 => "StripOffsets",
        274 => "Orientation",
        277 => "SamplesPerPixel",
        278 => "RowsPerStrip",
        279 => "StripByteCounts",
        280 => "MinSampleValue",
        281 => "MaxSampleValue",
        282 => "XResolution",
        283 => "YResolution",
        284 => "PlanarConfiguration",
        285 => "PageName",
        286 => "XPosition",
        287 => "YPosition",
        296 => "ResolutionUnit",
        297 => "PageNumber",
        305 => "Software",
        306 => "DateTime",
        315 => "Artist",
        316 => "HostComputer",
        317 => "Predictor",
        318 => "WhitePoint",
        319 => "PrimaryChromaticities",
        320 => "ColorMap",
        322 => "TileWidth",
        323 => "TileLength",
        324 => "TileOffsets",
        325 => "TileByteCounts",
        330 => "SubIFDs",
        338 => "ExtraSamples",
        339 => "SampleFormat",
        340 => "SMinSampleValue",
        341 => "SMaxSampleValue",
        347 => "JPEGTables",
        530 => "YCbCrSubSampling",
        531 => "YCbCrPositioning",
        532 => "ReferenceBlackWhite",
        700 => "XMP",
        33432 => "Copyright",
        33471 => "OlympusINI",
        33560 => "OlympusSIS",
        34118 => "CZ_SEM",
        34665 => "ExifTag",
        34680 => "FEI_SFEG",
        34682 => "FEI_HELIOS",
        34853 => "GPSTag",
        37706 => "TVIPS",
        50838 => "IJMetadataByteCounts",
        50839 => "IJMetadata",
        65027 => "JEOL_Header",
        EMIO_METADATA => "emio",
        // EXIF
        33434 => "ExposureTime",
        33437 => "FNumber",
        36864 => "ExifVersion",
        36867 => "DateTimeOriginal",
        36868 => "DateTimeDigitized",
        37510 => "UserComment",
        40960 => "FlashpixVersion",
        40961 => "ColorSpace",
        40962 => "PixelXDimension",
        40963 => "PixelYDimension",
        _ => return tag.to_string(),
    };
    known.to_string()
}
